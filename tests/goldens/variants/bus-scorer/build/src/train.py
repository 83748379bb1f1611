def train(dataset, hyperparameters, model_path):
    return None


def update(model, record, hyperparameters):
    model = dict(model or {"n": 0, "mean": 0.0})
    model["n"] += 1
    model["mean"] += (float(record["value"]) - model["mean"]) / model["n"]
    return model
