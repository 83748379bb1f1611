"""Predict the quality of one moulded part from its process measurements."""

import pickle


def load(model_path):
    with open(model_path, "rb") as stream:
        return pickle.load(stream)


def predict(model, temperature, pressure, cycle_time):
    features = [[float(temperature), float(pressure), float(cycle_time)]]
    label = model.predict(features)[0]
    probabilities = dict(zip(model.classes_, model.predict_proba(features)[0]))
    return {"label": str(label), "probability": float(probabilities[label])}
