"""Content models (materials, versions and reviews arrive with the content feature)."""
