def predict(model, temperature, pressure):
    return {"score": float(temperature) / 300.0 + float(pressure) / 1000.0}
