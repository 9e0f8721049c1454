"""Protocol front ends: bytes in, commands to the service, replies out. No business logic."""
