"""The simulator stack an artifact was made with: package versions and the OpenGL renderer.

Why recorded: from MuJoCo 3.3.3 LIBERO's floors render darker and from 3.4 a task's bowl no longer seats
(DESIGN.md §8); every evaluation and scene check says which MuJoCo, robosuite, LIBERO and GL produced it.
"""

import os

from wmvla.provenance import package_versions
from wmvla.sim.pro import pro_versions

SIMULATOR_PACKAGES = ("mujoco", "robosuite", "hf-libero")


def gl_strings() -> dict[str, str | None]:
    """Vendor and renderer of the OpenGL context current in this thread (after a render), if any."""
    try:
        from OpenGL import GL

        return {
            key: GL.glGetString(name).decode()
            for key, name in (("gl_vendor", GL.GL_VENDOR), ("gl_renderer", GL.GL_RENDERER))
        }
    except Exception:  # no current context, or no PyOpenGL: unknown rather than wrong
        return {"gl_vendor": None, "gl_renderer": None}


def simulator_versions() -> dict[str, str | None]:
    """The simulator stack: package versions and the rendering backend (GL strings after a render). A
    process on LIBERO-PRO (a perturbed suite) adds its release and `libero`'s file under keys of their own:
    `hf-libero` stays the installed hf-libero, so plain and perturbed evaluations compare on the rest."""
    versions = {**package_versions(SIMULATOR_PACKAGES), **pro_versions()}
    return {**versions, "mujoco_gl": os.environ.get("MUJOCO_GL"), **gl_strings()}
