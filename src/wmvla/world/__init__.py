"""The world branch: Prophet, imagination bank, memory modes, gated fusion, world loss."""
