"""The standard partners implement: the signed envelope, the schemas, validation and routing rules."""
