"""The commands beside the pipeline: predict, generate, compare, report and results."""
