"""The room's hardware: scanning and assigning devices, provisioning a room PC, the
health of devices (heartbeats), the device agent and the pre-opening checks."""
