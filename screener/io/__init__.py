"""Reading and writing density files: discovery, naming, CHGCAR/cube parsing, CHGCAR writing."""
