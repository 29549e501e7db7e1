"""The Karakana process: composition root, settings, CLI, and (later) channel adapters."""
