"""The service every front end calls: the session runner, leader routing, forwarding, read levels, health."""
