"""Layer 4, model: the calibrated classifier (`classifier.GradingModel`, plain JSON files, never
pickle) and the metrics it is measured with (`metrics`). Imports only the base layer."""
