"""The model's interface: its input's name and size, its output's name and width.

Kept apart from graph.py so that serving a model never imports the `onnx` package: graph.py
builds the model only when the cached `.onnx` is missing, and `import onnx` (with ml_dtypes)
costs about a second at every server and worker start on the 2-core box.
"""

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
IMAGE_SIZE_PX = 224
NUM_CLASSES = 1000
