"""What pyproject.toml cannot state: the package list and the example file.

Every sub-package of ``gateway`` is found, so a new one is never left out of
the wheel; ``plugins/`` and ``templates/`` are installed under Herald's own
names (``[tool.setuptools] package-dir`` in pyproject.toml); and the
commented ``etc/herald.toml`` and the systemd unit travel inside the wheel
under ``gateway/_shipped/`` for ``herald config example`` and ``herald config
unit`` (``gateway.config.shipped_file``).
"""

import shutil
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py


SHIPPED = ("etc/herald.toml", "systemd/herald.service")


class BuildWithShippedFiles(build_py):  # type: ignore[misc]  # setuptools ships no types
    def run(self) -> None:
        super().run()
        for name in SHIPPED:
            target = Path(self.build_lib, "gateway", "_shipped", name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(__file__).parent / name, target)


setup(
    packages=[
        *find_namespace_packages(include=["gateway", "gateway.*"], exclude=["*.__pycache__"]),
        "herald_plugins",
        "herald_templates",
    ],
    cmdclass={"build_py": BuildWithShippedFiles},
)
