"""Our ACA-Py agent: its configuration (contexts/) and its controller (controller/)."""
