package dev.aiar.example;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import hex.ModelMetrics;
import hex.ModelMetricsBinomial;
import hex.ModelMetricsMultinomial;
import hex.tree.gbm.GBM;
import hex.tree.gbm.GBMModel;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import water.DKV;
import water.H2O;
import water.H2OStarter;
import water.Key;
import water.exceptions.H2OAbstractRuntimeException;
import water.fvec.Frame;
import water.fvec.NFSFileVec;
import water.fvec.Vec;
import water.parser.DefaultParserProviders;
import water.parser.ParseDataset;
import water.parser.ParseSetup;
import water.parser.ParseWriter;

/**
 * Example training jar of an aiar H2O bundle: trains a gradient boosting classifier (GBM) with H2O
 * running inside this JVM and exports it as a MOJO.
 *
 * <p>Usage: {@code java [JVM options] -jar train.jar}, with {@code -Djava.io.tmpdir} pointing to a
 * writable directory: H2O keeps its scratch and log files in a fresh directory there, removed on
 * exit. Nothing else is written but the model (first as {@code <model_path>.partial}, then renamed),
 * and H2O listens on no port: a one-node cloud without web server or cluster networking.
 *
 * <p>stdin holds one JSON object:
 *
 * <pre>
 * {"dataset": "/abs/data.csv", "model_path": "/abs/model.zip", "hyperparameters": {"ntrees": "40"}}
 * </pre>
 *
 * The dataset is a CSV file with a header row; an empty cell is a missing value. Hyperparameters,
 * all optional, are JSON numbers or the same numbers as strings; any other name is an error:
 *
 * <ul>
 *   <li>{@code response}: the column to predict (default {@code label}), made categorical;
 *   <li>{@code features}: the columns to learn from, a comma-separated string or a JSON list
 *       (default: every other column);
 *   <li>{@code ntrees} (40), {@code max_depth} (4), {@code learn_rate} (0.1), {@code seed} (7).
 * </ul>
 *
 * H2O computes on one thread ({@code -nthreads 1}), so the same data gives the same model. stdout
 * carries one JSON line and nothing else: {@code {"stats": {"rows": .., "features": [..], "classes":
 * [..], "ntrees": .., "training_metrics": {"logloss": .., "auc": .., ..}}}} and exit status 0 once
 * the MOJO is at {@code model_path}, or {@code {"error": "why"}} and status 1. H2O's log goes to
 * stderr.
 */
public final class Train {
  private static final Set<String> HYPERPARAMETERS =
      Set.of("response", "features", "ntrees", "max_depth", "learn_rate", "seed");

  /** A problem with the request or the data, told to the user as it is. */
  static final class UserError extends Exception {
    UserError(String message) {
      super(message);
    }
  }

  public static void main(String[] args) {
    PrintStream stdout = System.out;
    System.setOut(System.err); // H2O logs to System.out: stdout is for the answer only
    JsonObject answer = new JsonObject();
    int status = 1;
    Path scratch = null;
    try {
      JsonObject request = readRequest(System.in);
      Path dataset = Paths.get(text(request, "dataset"));
      Path model = Paths.get(text(request, "model_path"));
      Train train = new Train(hyperparameters(request));
      if (!Files.isRegularFile(dataset)) {
        throw new UserError("dataset not found: " + dataset);
      }
      scratch = Files.createTempDirectory(Paths.get(System.getProperty("java.io.tmpdir")), "h2o-");
      startH2O(scratch);
      answer.add("stats", train.run(dataset, model));
      status = 0;
    } catch (UserError e) {
      answer.addProperty("error", e.getMessage());
    } catch (Throwable e) {
      e.printStackTrace();
      answer.addProperty("error", message(e));
    }
    stdout.println(answer);
    stdout.flush();
    deleteTree(scratch);
    System.exit(status); // H2O's threads never end by themselves
  }

  private final String response;
  private final List<String> features;
  private final int ntrees;
  private final int maxDepth;
  private final double learnRate;
  private final long seed;

  Train(JsonObject hyperparameters) throws UserError {
    for (String name : hyperparameters.keySet()) {
      if (!HYPERPARAMETERS.contains(name)) {
        throw new UserError(
            "unknown hyperparameter '" + name + "' (known: " + String.join(", ", sorted()) + ")");
      }
    }
    response = string(hyperparameters, "response", "label");
    features = list(hyperparameters, "features");
    ntrees = integer(hyperparameters, "ntrees", 40);
    maxDepth = integer(hyperparameters, "max_depth", 4);
    learnRate = decimal(hyperparameters, "learn_rate", 0.1);
    seed = longInteger(hyperparameters, "seed", 7);
  }

  /** Trains on the dataset, writes the MOJO and returns the training statistics. */
  JsonObject run(Path dataset, Path model) throws Exception {
    Frame frame = parse(dataset);
    List<String> columns = Arrays.asList(frame.names());
    int target = frame.find(response);
    if (target < 0) {
      throw new UserError(
          "the dataset has no response column '" + response + "' (columns: "
              + String.join(", ", columns) + ")");
    }
    Vec labels = frame.vec(target);
    if (!labels.isCategorical()) {
      frame.replace(target, labels.toCategoricalVec()).remove(); // a classifier, also for 0/1
      DKV.put(frame);
    }
    List<String> ignored = new ArrayList<>();
    if (features != null) {
      for (String feature : features) {
        if (feature.equals(response) || !columns.contains(feature)) {
          throw new UserError(
              "feature '" + feature + "' is not a column of the dataset besides the response");
        }
      }
      for (String column : columns) {
        if (!column.equals(response) && !features.contains(column)) {
          ignored.add(column);
        }
      }
    }

    GBMModel.GBMParameters parameters = new GBMModel.GBMParameters();
    parameters._train = frame._key;
    parameters._response_column = response;
    parameters._ignored_columns = ignored.isEmpty() ? null : ignored.toArray(new String[0]);
    parameters._ntrees = ntrees;
    parameters._max_depth = maxDepth;
    parameters._learn_rate = learnRate;
    parameters._seed = seed;
    GBMModel trained = new GBM(parameters).trainModel().get();
    writeMojo(trained, model);

    JsonObject stats = new JsonObject();
    stats.addProperty("rows", frame.numRows());
    JsonArray used = new JsonArray(); // H2O leaves out constant and text columns
    for (String feature : trained._output.features()) {
      used.add(feature);
    }
    stats.add("features", used);
    JsonArray classes = new JsonArray();
    for (String level : trained._output.classNames()) {
      classes.add(level);
    }
    stats.add("classes", classes);
    stats.addProperty("ntrees", trained._output._ntrees);
    stats.add("training_metrics", metrics(trained._output._training_metrics));
    return stats;
  }

  private static Frame parse(Path dataset) {
    NFSFileVec file = NFSFileVec.make(dataset.toFile());
    Key<?>[] files = {file._key};
    ParseSetup guide =
        new ParseSetup(
            DefaultParserProviders.CSV_INFO,
            (byte) ',',
            false,
            ParseSetup.HAS_HEADER,
            ParseSetup.GUESS_COL_CNT,
            null,
            new ParseWriter.ParseErr[0]);
    ParseSetup setup = ParseSetup.guessSetup(files, guide);
    return ParseDataset.parse(Key.make("train.hex"), files, true, setup);
  }

  /** Writes the MOJO next to its destination first, so that a failed run leaves no partial zip. */
  private static void writeMojo(GBMModel model, Path destination) throws UserError {
    Path partial = destination.resolveSibling(destination.getFileName() + ".partial");
    try {
      try (OutputStream out = Files.newOutputStream(partial)) {
        model.getMojo().writeTo(out);
      }
      Files.move(partial, destination, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      partial.toFile().delete();
      throw new UserError("cannot write the model to " + destination + ": " + message(e));
    }
  }

  /** The training metrics H2O gives for the model's category; finite numbers only. */
  private static JsonObject metrics(ModelMetrics metrics) {
    JsonObject result = new JsonObject();
    if (metrics == null) {
      return result;
    }
    result.addProperty("nobs", metrics._nobs);
    put(result, "mse", metrics.mse());
    put(result, "rmse", metrics.rmse());
    if (metrics instanceof ModelMetricsBinomial) {
      ModelMetricsBinomial binomial = (ModelMetricsBinomial) metrics;
      put(result, "logloss", binomial.logloss());
      put(result, "auc", binomial.auc());
      put(result, "pr_auc", binomial.pr_auc());
      put(result, "mean_per_class_error", binomial.mean_per_class_error());
    } else if (metrics instanceof ModelMetricsMultinomial) {
      ModelMetricsMultinomial multinomial = (ModelMetricsMultinomial) metrics;
      put(result, "logloss", multinomial.logloss());
      put(result, "mean_per_class_error", multinomial.mean_per_class_error());
    }
    return result;
  }

  private static void put(JsonObject object, String name, double value) {
    if (Double.isFinite(value)) {
      object.addProperty(name, value);
    }
  }

  /**
   * Starts a one-node H2O cloud that listens on no port and keeps its files under scratch. Its REST
   * API is registered, not served: the MOJO writer describes the model with the API's schemas.
   */
  private static void startH2O(Path scratch) {
    H2OStarter.start(
        new String[] {
          "-name", "aiar-train",
          "-disable_web",
          "-disable_net",
          "-disable_flow",
          "-nthreads", "1",
          "-ice_root", scratch.toString(),
          "-log_dir", scratch.resolve("logs").toString(),
          "-flow_dir", scratch.resolve("flows").toString(),
        },
        false);
    H2O.waitForCloudSize(1, 60_000);
  }

  // -- the request -------------------------------------------------------------------------------

  private static JsonObject readRequest(InputStream in) throws IOException, UserError {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    in.transferTo(bytes);
    JsonElement request;
    try {
      request = JsonParser.parseString(bytes.toString(StandardCharsets.UTF_8));
    } catch (RuntimeException e) {
      throw new UserError("stdin is not one JSON object: " + message(e));
    }
    if (!request.isJsonObject()) {
      throw new UserError("stdin is not one JSON object");
    }
    return request.getAsJsonObject();
  }

  private static String text(JsonObject request, String name) throws UserError {
    JsonElement value = request.get(name);
    if (value == null || !value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()
        || value.getAsString().isEmpty()) {
      throw new UserError("the request needs '" + name + "' (a path)");
    }
    return value.getAsString();
  }

  private static JsonObject hyperparameters(JsonObject request) throws UserError {
    JsonElement value = request.get("hyperparameters");
    if (value == null || value.isJsonNull()) {
      return new JsonObject();
    }
    if (!value.isJsonObject()) {
      throw new UserError("'hyperparameters' must be an object");
    }
    JsonObject given = new JsonObject();
    for (Map.Entry<String, JsonElement> entry : value.getAsJsonObject().entrySet()) {
      if (!entry.getValue().isJsonNull()) { // null: the default
        given.add(entry.getKey(), entry.getValue());
      }
    }
    return given;
  }

  private static String string(JsonObject hyperparameters, String name, String otherwise)
      throws UserError {
    JsonElement value = hyperparameters.get(name);
    if (value == null) {
      return otherwise;
    }
    if (!value.isJsonPrimitive() || value.getAsString().isBlank()) {
      throw new UserError("hyperparameter '" + name + "' must be a column name");
    }
    return value.getAsString().trim();
  }

  /** A comma-separated string or a JSON list of names; null when not given. */
  private static List<String> list(JsonObject hyperparameters, String name) throws UserError {
    JsonElement value = hyperparameters.get(name);
    if (value == null) {
      return null;
    }
    List<String> names = new ArrayList<>();
    if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()) {
      for (String part : value.getAsString().split(",")) {
        if (!part.isBlank()) {
          names.add(part.trim());
        }
      }
    } else if (value.isJsonArray()) {
      for (JsonElement element : value.getAsJsonArray()) {
        if (!element.isJsonPrimitive() || !element.getAsJsonPrimitive().isString()) {
          throw new UserError("hyperparameter '" + name + "' must list column names");
        }
        names.add(element.getAsString().trim());
      }
    } else {
      throw new UserError(
          "hyperparameter '" + name + "' must be a comma-separated string or a list of names");
    }
    if (names.isEmpty()) {
      throw new UserError("hyperparameter '" + name + "' names no column");
    }
    return names;
  }

  private static int integer(JsonObject hyperparameters, String name, int otherwise)
      throws UserError {
    BigDecimal number = number(hyperparameters, name);
    try {
      return number == null ? otherwise : number.intValueExact();
    } catch (ArithmeticException e) {
      throw new UserError(
          "hyperparameter '" + name + "' must be an integer, got " + hyperparameters.get(name));
    }
  }

  private static long longInteger(JsonObject hyperparameters, String name, long otherwise)
      throws UserError {
    BigDecimal number = number(hyperparameters, name);
    try {
      return number == null ? otherwise : number.longValueExact();
    } catch (ArithmeticException e) {
      throw new UserError(
          "hyperparameter '" + name + "' must be an integer, got " + hyperparameters.get(name));
    }
  }

  private static double decimal(JsonObject hyperparameters, String name, double otherwise)
      throws UserError {
    BigDecimal number = number(hyperparameters, name);
    return number == null ? otherwise : number.doubleValue();
  }

  /** A JSON number or a string holding one (manifests may quote them); null when not given. */
  private static BigDecimal number(JsonObject hyperparameters, String name) throws UserError {
    JsonElement value = hyperparameters.get(name);
    if (value == null) {
      return null;
    }
    if (value.isJsonPrimitive() && !value.getAsJsonPrimitive().isBoolean()) {
      try {
        return new BigDecimal(value.getAsString().trim());
      } catch (NumberFormatException e) {
        // told below
      }
    }
    throw new UserError("hyperparameter '" + name + "' must be a number, got " + value);
  }

  private static List<String> sorted() {
    List<String> names = new ArrayList<>(HYPERPARAMETERS);
    names.sort(null);
    return names;
  }

  // -- odds and ends -----------------------------------------------------------------------------

  /**
   * The innermost message (H2O wraps the failure of a job in exceptions of its own), after the
   * exception's name unless it is H2O's or an IllegalArgumentException, whose messages say it all.
   */
  private static String message(Throwable e) {
    Throwable innermost = e;
    for (Throwable t = e; t != null && t != t.getCause(); t = t.getCause()) {
      if (t.getMessage() != null && !t.getMessage().isBlank()) {
        innermost = t;
      }
    }
    String message = innermost.getMessage();
    if (message == null || message.isBlank()) {
      return innermost.getClass().getSimpleName();
    }
    boolean explicit =
        innermost instanceof H2OAbstractRuntimeException
            || innermost instanceof IllegalArgumentException;
    return explicit ? message.trim() : innermost.getClass().getSimpleName() + ": " + message.trim();
  }

  private static void deleteTree(Path root) {
    if (root == null) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException | RuntimeException e) {
      System.err.println("aiar h2o-train: cannot remove " + root + ": " + e);
    }
  }
}
