"""The ONNX Runtime detection classifier: MiniLM-L6 encoder + calibrated head (issue #3).

Import ``build_classifier`` from :mod:`shared.inference.classifier` where onnxruntime may be
absent until needed; this package re-exports the public names.
"""

from shared.inference.classifier import UNSAFE, OnnxClassifier, build_classifier

__all__ = ["UNSAFE", "OnnxClassifier", "build_classifier"]
