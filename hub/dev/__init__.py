"""Development: the demo, the development consortium and the load generator."""
