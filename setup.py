"""Build step: install the top-level templates/ folder as perfreport/templates/.

The report templates live at the repository's top level so that they are easy to
find and edit; wheels need them inside the package. Everything else about the
build is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTemplates(build_py):
    """Copy templates/* into the built perfreport package after the usual build."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib, "perfreport", "templates")
        self.mkpath(str(target))
        for source in sorted(
            Path(__file__).resolve().parent.joinpath("templates").iterdir()
        ):
            if source.is_file():
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithTemplates})
