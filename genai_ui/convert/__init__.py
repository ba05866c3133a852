"""Convert and compress: export options, the conversion jobs, their worker and the quality report."""
