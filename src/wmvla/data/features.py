"""The LIBERO dataset contract (DESIGN.md §4): keys, shapes and dtypes shared by recorder and checks."""

IMAGE_KEYS = ("observation.images.image", "observation.images.image2")
STATE_KEY = "observation.state"
ACTION_KEY = "action"
STATE_DIM = 8  # eef position (3), eef axis-angle (3), gripper joint positions (2)
ACTION_DIM = 7  # delta position (3), delta rotation (3), gripper (1)

STATE_NAMES = ["eef_x", "eef_y", "eef_z", "eef_ax", "eef_ay", "eef_az", "gripper_left", "gripper_right"]
ACTION_NAMES = ["dx", "dy", "dz", "drx", "dry", "drz", "gripper"]


def libero_features(image_size: int) -> dict[str, dict]:
    """LeRobot feature spec of a LIBERO dataset with square images of `image_size` pixels."""
    image = {
        "dtype": "image",
        "shape": (image_size, image_size, 3),
        "names": ["height", "width", "channel"],
    }
    return {
        IMAGE_KEYS[0]: dict(image),
        IMAGE_KEYS[1]: dict(image),
        STATE_KEY: {"dtype": "float32", "shape": (STATE_DIM,), "names": STATE_NAMES},
        ACTION_KEY: {"dtype": "float32", "shape": (ACTION_DIM,), "names": ACTION_NAMES},
    }
