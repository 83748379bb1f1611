package dev.aiar.h2o;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import hex.genmodel.MojoModel;
import hex.genmodel.easy.EasyPredictModelWrapper;
import hex.genmodel.easy.RowData;
import hex.genmodel.easy.prediction.AbstractPrediction;
import hex.genmodel.easy.prediction.BinomialModelPrediction;
import hex.genmodel.easy.prediction.MultinomialModelPrediction;
import hex.genmodel.easy.prediction.RegressionModelPrediction;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * aiar's H2O bridge: a long-lived JVM that scores one MOJO for the aiar model server.
 *
 * <p>Usage: {@code java -jar predict.jar [MODEL.zip]} (default: {@code model.zip} next to the jar).
 * Reads one JSON request per line on stdin, writes one JSON answer per line on stdout, in order:
 *
 * <pre>
 * {"id": 1, "params": {"temperature": 241.0, ...}}  ->  {"id": 1, "result": {"predict": "ok", ...}}
 * {"id": 2, "ping": true}                            ->  {"id": 2, "result": {"pong": true, ...}}
 * anything that cannot be scored                     ->  {"id": n, "error": "why"}
 * </pre>
 *
 * The full contract is in aiar's generator/runtime/CONTRACT.md. Diagnostics go to stderr only:
 * stdout carries answers and nothing else.
 */
public final class Predict {
  private final EasyPredictModelWrapper model;
  private final Map<String, Boolean> categorical = new HashMap<>();
  private final JsonObject info = new JsonObject();

  Predict(MojoModel mojo) {
    // Unknown levels and unparsable numbers become NA, as H2O's own scoring of a frame treats them.
    this.model =
        new EasyPredictModelWrapper(
            new EasyPredictModelWrapper.Config()
                .setModel(mojo)
                .setConvertUnknownCategoricalLevelsToNa(true)
                .setConvertInvalidNumbersToNa(true));
    String[] names = mojo.getNames();
    for (int i = 0; i < mojo.nfeatures(); i++) {
      categorical.put(names[i], mojo.getDomainValues(i) != null);
    }
    info.addProperty("pong", true);
    info.addProperty("category", String.valueOf(model.getModelCategory()));
    info.addProperty("features", mojo.nfeatures());
  }

  public static void main(String[] args) throws Exception {
    File path = args.length > 0 ? new File(args[0]) : defaultModel();
    MojoModel mojo;
    try {
      mojo = MojoModel.load(path.getPath());
    } catch (Exception e) {
      System.err.println("aiar h2o-predict: cannot load the MOJO " + path + ": " + e);
      System.exit(2);
      return;
    }
    new Predict(mojo).serve();
  }

  private static File defaultModel() throws Exception {
    File jar = new File(Predict.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    return new File(jar.getParentFile(), "model.zip");
  }

  void serve() throws Exception {
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
    BufferedWriter out =
        new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
    String line;
    while ((line = in.readLine()) != null) {
      if (line.isBlank()) {
        continue;
      }
      out.write(answer(line));
      out.write('\n');
      // Pipelined requests are answered in one write; the last answer of a burst is never held back.
      if (!in.ready()) {
        out.flush();
      }
    }
    out.flush();
  }

  String answer(String line) {
    JsonObject response = new JsonObject();
    JsonElement id = null;
    try {
      JsonObject request = JsonParser.parseString(line).getAsJsonObject();
      id = request.get("id");
      response.add("id", id);
      if (request.has("ping")) {
        response.add("result", info);
      } else if (request.has("params") && request.get("params").isJsonObject()) {
        response.add("result", score(request.getAsJsonObject("params")));
      } else {
        response.addProperty("error", "a request needs 'params' (an object) or 'ping'");
      }
    } catch (Exception e) {
      response = new JsonObject();
      response.add("id", id);
      String message = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
      response.addProperty("error", message);
    }
    return response.toString();
  }

  JsonObject score(JsonObject params) throws Exception {
    RowData row = new RowData();
    for (Map.Entry<String, JsonElement> entry : params.entrySet()) {
      JsonElement value = entry.getValue();
      if (value == null || value.isJsonNull()) {
        continue; // absent: NA
      }
      if (!value.isJsonPrimitive()) {
        throw new IllegalArgumentException(
            "parameter '" + entry.getKey() + "' must be a number, string or boolean");
      }
      row.put(entry.getKey(), cell(entry.getKey(), value.getAsJsonPrimitive()));
    }
    AbstractPrediction prediction = model.predict(row);
    JsonObject result = new JsonObject();
    if (prediction instanceof BinomialModelPrediction) {
      BinomialModelPrediction p = (BinomialModelPrediction) prediction;
      result.addProperty("predict", p.label);
      result.add("probabilities", probabilities(p.classProbabilities));
    } else if (prediction instanceof MultinomialModelPrediction) {
      MultinomialModelPrediction p = (MultinomialModelPrediction) prediction;
      result.addProperty("predict", p.label);
      result.add("probabilities", probabilities(p.classProbabilities));
    } else if (prediction instanceof RegressionModelPrediction) {
      result.addProperty("predict", ((RegressionModelPrediction) prediction).value);
    } else {
      throw new IllegalStateException(
          "models of category " + model.getModelCategory() + " are not supported by this jar");
    }
    return result;
  }

  /** A categorical column takes its level as text, also when JSON wrote it as a number. */
  private Object cell(String name, JsonPrimitive value) {
    boolean isCategorical = categorical.getOrDefault(name, false);
    if (value.isNumber()) {
      if (!isCategorical) {
        return value.getAsDouble();
      }
      double d = value.getAsDouble();
      return d == Math.rint(d) && !Double.isInfinite(d) ? Long.toString((long) d) : value.getAsString();
    }
    return value.getAsString();
  }

  private JsonObject probabilities(double[] values) {
    String[] labels = model.getResponseDomainValues();
    JsonObject result = new JsonObject();
    for (int i = 0; i < values.length; i++) {
      result.addProperty(labels[i], values[i]);
    }
    return result;
  }
}
