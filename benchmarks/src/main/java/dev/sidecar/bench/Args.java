package dev.sidecar.bench;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/** {@code --key value} and {@code --flag} command-line options, checked against the known names. */
final class Args {
  private final Map<String, String> values = new HashMap<>();
  private final Set<String> flags = new HashSet<>();

  private Args() {}

  /**
   * Parses {@code argv}; {@code valued} names take a value, {@code flagNames} take none. An
   * unknown option, or a valued option without its value, throws naming it.
   */
  static Args parse(String[] argv, Set<String> valued, Set<String> flagNames) {
    Args a = new Args();
    for (int i = 0; i < argv.length; i++) {
      String arg = argv[i];
      if (!arg.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + arg + "'; options start with --");
      }
      String name = arg.substring(2);
      String inline = null;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        inline = name.substring(eq + 1);
        name = name.substring(0, eq);
      }
      if (flagNames.contains(name) && inline == null) {
        a.flags.add(name);
      } else if (valued.contains(name)) {
        if (inline == null) {
          if (i + 1 >= argv.length) {
            throw new IllegalArgumentException("option --" + name + " needs a value");
          }
          inline = argv[++i];
        }
        a.values.put(name, inline);
      } else {
        throw new IllegalArgumentException("unknown option --" + name + "; known: "
            + new java.util.TreeSet<>(valued) + " (with a value), " + new java.util.TreeSet<>(flagNames));
      }
    }
    return a;
  }

  boolean flag(String name) {
    return flags.contains(name);
  }

  String string(String name, String dflt) {
    return values.getOrDefault(name, dflt);
  }

  long longValue(String name, long dflt) {
    String v = values.get(name);
    if (v == null) {
      return dflt;
    }
    try {
      return parseSize(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("option --" + name + ": expected a number such as 1000000"
          + " or 1m, got '" + v + "'");
    }
  }

  int intValue(String name, int dflt) {
    long v = longValue(name, dflt);
    if (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE) {
      throw new IllegalArgumentException("option --" + name + ": " + v + " is out of range");
    }
    return (int) v;
  }

  /** {@code 1000}, {@code 10k}, {@code 2m}. */
  static long parseSize(String v) {
    String s = v.trim().toLowerCase(java.util.Locale.ROOT).replace("_", "");
    long mult = 1;
    if (s.endsWith("k")) {
      mult = 1_000;
      s = s.substring(0, s.length() - 1);
    } else if (s.endsWith("m")) {
      mult = 1_000_000;
      s = s.substring(0, s.length() - 1);
    }
    return Long.parseLong(s) * mult;
  }
}
