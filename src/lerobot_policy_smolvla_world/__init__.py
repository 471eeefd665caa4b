"""LeRobot policy plugin `smolvla_world` (models arrive with the policy issue; the package is installed
now so LeRobot's plugin discovery already sees it)."""
