package dev.sidecar.bench;

import java.util.ArrayList;
import java.util.List;

/** A Markdown table, padded so it reads well in a terminal too. */
final class Table {
  private final List<String> header;
  private final List<List<String>> rows = new ArrayList<>();
  private final boolean[] rightAligned;

  Table(String... header) {
    this.header = List.of(header);
    this.rightAligned = new boolean[header.length];
  }

  /** Right-aligns the given columns (numbers). */
  Table right(int... columns) {
    for (int c : columns) {
      rightAligned[c] = true;
    }
    return this;
  }

  void add(Object... cells) {
    if (cells.length != header.size()) {
      throw new IllegalArgumentException("row has " + cells.length + " cells, the table "
          + header.size() + " columns");
    }
    List<String> r = new ArrayList<>();
    for (Object c : cells) {
      r.add(String.valueOf(c));
    }
    rows.add(r);
  }

  String render() {
    int[] w = new int[header.size()];
    for (int i = 0; i < w.length; i++) {
      w[i] = Math.max(3, header.get(i).length());
      for (List<String> r : rows) {
        w[i] = Math.max(w[i], r.get(i).length());
      }
    }
    StringBuilder sb = new StringBuilder();
    line(sb, header, w);
    sb.append('|');
    for (int i = 0; i < w.length; i++) {
      sb.append(' ').append(rightAligned[i] ? "-".repeat(w[i] - 1) + ":" : "-".repeat(w[i])).append(" |");
    }
    sb.append('\n');
    for (List<String> r : rows) {
      line(sb, r, w);
    }
    return sb.toString();
  }

  private void line(StringBuilder sb, List<String> cells, int[] w) {
    sb.append('|');
    for (int i = 0; i < w.length; i++) {
      String c = cells.get(i);
      String pad = " ".repeat(w[i] - c.length());
      sb.append(' ').append(rightAligned[i] ? pad + c : c + pad).append(" |");
    }
    sb.append('\n');
  }

  static String mb(long bytes) {
    return bytes < 0 ? "—" : String.format(java.util.Locale.ROOT, "%,d", Math.round(bytes / 1048576.0));
  }

  static String rate(double perSecond) {
    return String.format(java.util.Locale.ROOT, "%,.0f", perSecond);
  }

  static String fixed(double v, int decimals) {
    return String.format(java.util.Locale.ROOT, "%." + decimals + "f", v);
  }

  static double median(List<Double> values) {
    List<Double> s = new ArrayList<>(values);
    s.sort(Double::compare);
    int n = s.size();
    if (n == 0) {
      return Double.NaN;
    }
    return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
  }
}
