package dev.sidecar.spark.internal;

import dev.sidecar.bundle.ApiSpec;
import dev.sidecar.bundle.ColumnSpec;
import dev.sidecar.bundle.Manifest;
import dev.sidecar.bundle.OutputSpec;
import dev.sidecar.spark.RunOptions;
import dev.sidecar.spark.SidecarSparkException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.Set;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Checks a DataFrame schema against an API's input descriptor on the driver, before any task
 * runs, and turns the pair into a {@link ScoringPlan}. Every problem found is reported at once,
 * each naming the column, the expected and the found type.
 */
public final class ScoringPlanner {
  private ScoringPlanner() {
  }

  /** The plan for scoring {@code schema} with {@code apiName}; not yet shipped (no file name). */
  public static ScoringPlan plan(Manifest manifest, String digest, String apiName,
      StructType schema, RunOptions options) {
    ApiSpec api;
    try {
      api = manifest.api(apiName);
    } catch (NoSuchElementException e) {
      throw new SidecarSparkException(e.getMessage());
    }
    String where = "API '" + api.name() + "' of bundle " + manifest.tag();
    List<String> problems = new ArrayList<>();
    List<InputColumn> inputs = new ArrayList<>();
    for (ColumnSpec c : api.input().columns()) {
      int index = fieldIndex(schema, c.name());
      if (index < 0) {
        problems.add("missing column '" + c.name() + "' (expected " + SparkTypes.expected(c)
            + ")" + similarName(schema, c.name()));
        continue;
      }
      StructField field = schema.fields()[index];
      DataType found = field.dataType();
      SparkTypes.Source source = SparkTypes.sourceFor(c, found);
      if (source == null) {
        problems.add("column '" + c.name() + "': expected " + SparkTypes.expected(c)
            + ", found " + found.simpleString());
        continue;
      }
      if (c.elementsPerRow() > Integer.MAX_VALUE) {
        problems.add("column '" + c.name() + "': " + c.elementsPerRow() + " elements per row is too many");
        continue;
      }
      inputs.add(new InputColumn(c.name(), index, c.dtype(), c.shape(), (int) c.elementsPerRow(),
          source, SparkTypes.elementType(found, source), SparkTypes.arrayMayHoldNulls(found)));
    }

    int[] kept = options.keepInputColumns()
        ? java.util.stream.IntStream.range(0, schema.fields().length).toArray() : new int[0];
    List<StructField> outFields = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (int i : kept) {
      outFields.add(schema.fields()[i]);
      names.add(schema.fields()[i].name().toLowerCase(Locale.ROOT));
    }
    List<OutputColumn> outputs = new ArrayList<>();
    for (OutputSpec o : api.outputs()) {
      String column = options.outputPrefix() + o.name();
      if (!names.add(column.toLowerCase(Locale.ROOT))) {
        problems.add("output column '" + column + "' clashes with an input column of the same"
            + " name; set an output prefix or drop the input columns");
        continue;
      }
      if (o.elementsPerRow() > Integer.MAX_VALUE) {
        problems.add("output '" + o.name() + "': " + o.elementsPerRow() + " elements per row is too many");
        continue;
      }
      outputs.add(new OutputColumn(o.name(), column, o.columnDType(), (int) o.elementsPerRow(),
          o.shape().size() > 1));
      outFields.add(new StructField(column, SparkTypes.outputType(o), options.allowNulls(),
          org.apache.spark.sql.types.Metadata.empty()));
    }
    Lineage lineage = new Lineage(manifest.name(), manifest.version(), digest, api.name());
    if (options.lineageColumns()) {
      for (StructField f : lineage.fields(options.outputPrefix())) {
        if (!names.add(f.name().toLowerCase(Locale.ROOT))) {
          problems.add("lineage column '" + f.name() + "' clashes with an input or output column"
              + " of the same name; set an output prefix or drop the input columns");
        }
        outFields.add(f);
      }
    }
    if (!problems.isEmpty()) {
      throw new SidecarSparkException(where + " cannot score this DataFrame: "
          + String.join("; ", problems) + ". DataFrame schema: " + schema.simpleString());
    }
    return new ScoringPlan(manifest.tag(), digest, "", "", api.name(), inputs, outputs,
        kept, new StructType(outFields.toArray(new StructField[0])), lineage, options, null);
  }

  private static int fieldIndex(StructType schema, String name) {
    StructField[] fields = schema.fields();
    for (int i = 0; i < fields.length; i++) {
      if (fields[i].name().equals(name)) {
        return i;
      }
    }
    return -1;
  }

  private static String similarName(StructType schema, String name) {
    return Arrays.stream(schema.fieldNames()).filter(n -> n.equalsIgnoreCase(name)).findFirst()
        .map(n -> "; the DataFrame has '" + n + "' (names are case-sensitive)").orElse("");
  }
}
