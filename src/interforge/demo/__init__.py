"""The main job (`interforge demo`): the whole pipeline on embedded defaults, and the paper-scale inputs."""

from interforge.demo.pipeline import Demo, DemoResult, demo_config, run_demo

__all__ = ["Demo", "DemoResult", "demo_config", "run_demo"]
