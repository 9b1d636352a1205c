"""User code of the taxi model: features, preprocessing, Keras model, training adapter, signatures."""
