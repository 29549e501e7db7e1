"""Channel-neutral conversation state machines for artisans, field agents and admins."""
