import dev.sidecar.spark.Sidecar;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Run by ShadedJarIT as a single source file with only the shaded connector jar and Spark's jars
 * on the class path: scores iris on local[2] through a sidecar process started from that jar.
 * Args: bundle archive, iris.csv, expected_predictions.csv.
 */
public class ShadedIrisMain {
  public static void main(String[] args) throws Exception {
    SparkSession spark = SparkSession.builder().master("local[2]").appName("ShadedIrisMain")
        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false").getOrCreate();
    try {
      Dataset<Row> df = spark.read().option("header", "true").option("inferSchema", "true")
          .csv(args[1]).coalesce(1);
      List<Row> rows = Sidecar.runSpark(Path.of(args[0]), "classify", df).collectAsList();
      List<String> expected = Files.readAllLines(Path.of(args[2]));
      String[] species = {"setosa", "versicolor", "virginica"};
      int wrong = 0;
      for (int i = 0; i < rows.size(); i++) {
        String[] e = expected.get(i + 1).split(",");
        Row r = rows.get(i);
        String label = r.getString(r.fieldIndex("label"));
        List<Object> p = r.getList(r.fieldIndex("probabilities"));
        boolean ok = label.equals(species[Integer.parseInt(e[0])]);
        for (int k = 0; k < 3; k++) {
          ok &= Math.abs(((Float) p.get(k)) - Double.parseDouble(e[k + 1])) <= 1e-5;
        }
        if (!ok) {
          wrong++;
          System.out.println("MISMATCH row " + i + ": " + r);
        }
      }
      System.out.println("SHADED RESULT rows=" + rows.size() + " wrong=" + wrong);
      System.exit(rows.size() == 150 && wrong == 0 ? 0 : 1);
    } finally {
      spark.stop();
    }
  }
}
