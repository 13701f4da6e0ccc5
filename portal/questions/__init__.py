"""Questions from HCPs: routed to the right team by rules within hard compliance limits, worked to
a due time."""
