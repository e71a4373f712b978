"""The auditor: verify records and checkpoints in memory (verify) or streamed (stream)."""
