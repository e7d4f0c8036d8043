package dev.sidecar.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The bearer token of {@code serve} (required from clients) and {@code stats} (sent to the
 * server): {@code --token}, {@code --token-file} or {@code $SIDECAR_TOKEN}, in that order. A
 * token file must be a regular file readable by its owner alone (like an ssh key); its
 * trailing newline is dropped, and an empty file is refused.
 */
final class TokenOptions {
  static final String ENV = "SIDECAR_TOKEN";
  private static final Set<PosixFilePermission> GROUP_OR_OTHERS = EnumSet.of(
      PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
      PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE);

  @Option(names = "--token", paramLabel = "TOKEN",
      description = "Bearer token (serve: required on every call except health checks; stats:"
          + " sent to the server). Visible in 'ps': prefer --token-file or $" + ENV + "."
          + " Default: $" + ENV + ", else none.")
  String token;

  @Option(names = "--token-file", paramLabel = "FILE",
      description = "Read the bearer token from FILE: a regular file readable by its owner"
          + " only (chmod 600), one line.")
  Path tokenFile;

  @Spec(Spec.Target.MIXEE)
  CommandSpec spec;

  /** The token to use, or null for none; a bad token file is a one-line failure. */
  String resolve() {
    if (token != null && tokenFile != null) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "give --token or --token-file, not both");
    }
    if (tokenFile != null) {
      return read(tokenFile);
    }
    String t = token != null ? token : System.getenv(ENV);
    if (t != null && t.isBlank()) {
      // An unset secret must not quietly turn authentication off.
      throw new IllegalArgumentException((token != null ? "--token" : "$" + ENV)
          + " is empty; give a token or leave it unset");
    }
    return t;
  }

  /** The token in {@code file}: checked as described on this class. */
  static String read(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("token file " + file + (Files.exists(file)
          ? " is not a regular file" : " does not exist"));
    }
    String text;
    try {
      if (file.getFileSystem().supportedFileAttributeViews().contains("posix")) {
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
        if (mode.stream().anyMatch(GROUP_OR_OTHERS::contains)) {
          throw new IllegalArgumentException("token file " + file + " can be read or written by"
              + " other users (mode " + PosixFilePermissions.toString(mode) + "); restrict it"
              + " with: chmod 600 " + file);
        }
      }
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read token file " + file + ": " + e, e);
    }
    String t = text.endsWith("\r\n") ? text.substring(0, text.length() - 2)
        : text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
    if (t.isBlank()) {
      throw new IllegalArgumentException("token file " + file + " is empty");
    }
    if (t.indexOf('\n') >= 0 || t.indexOf('\r') >= 0) {
      throw new IllegalArgumentException("token file " + file + " holds more than one line;"
          + " it must hold the token alone");
    }
    return t;
  }
}
