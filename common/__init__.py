"""edgecascade: hybrid edge/cloud ML inference over MQTT."""

__version__ = "0.1.0"
