"""The stage0 side of the stage1 interface: choose a stage1, render a pod, launch it."""
