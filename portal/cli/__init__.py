"""`latchkey`: the command-line client of the portal's API, for people at a terminal and for CI jobs."""
