"""Services: the only code that changes state. Each public function is one unit of work."""
