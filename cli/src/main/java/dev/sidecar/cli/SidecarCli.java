package dev.sidecar.cli;

import dev.sidecar.bundle.BundleException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.NoSuchElementException;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/**
 * The {@code sidecar} command. Subcommands are listed in {@code subcommands} below; add new
 * ones there. Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 bad usage.
 */
@Command(name = "sidecar",
    mixinStandardHelpOptions = true,
    versionProvider = SidecarCli.Version.class,
    description = "Package ONNX models as bundles and score them from Spark through a gRPC"
        + " sidecar.",
    subcommands = {
        BundleCommand.class,
        ServeCommand.class,
        StatsCommand.class,
        RunCommand.class,
        CommandLine.HelpCommand.class,
    })
public final class SidecarCli implements Callable<Integer> {
  /** Exit code for a failed command. */
  public static final int EXIT_FAILURE = 1;
  /** Exit code for bad usage (unknown option, missing parameter). */
  public static final int EXIT_USAGE = 2;

  @Option(names = "--verbose", scope = ScopeType.INHERIT,
      description = "On failure, print the stack trace too. Default: off.")
  boolean verbose;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** Without a subcommand: the usage on stderr, exit code 2. */
  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getErr());
    return SidecarCli.EXIT_USAGE;
  }

  /** A command line for this root with sidecar's error handling; tests use it too. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new SidecarCli());
    cl.setExecutionExceptionHandler(SidecarCli::onError);
    cl.setParameterExceptionHandler(SidecarCli::onUsageError);
    return cl;
  }

  public static void main(String[] args) {
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    System.exit(commandLine().execute(args));
  }

  private static int onError(Exception e, CommandLine cl, ParseResult parsed) {
    PrintWriter err = cl.getErr();
    err.println("sidecar: " + oneLine(e));
    if (verbose(parsed)) {
      e.printStackTrace(err);
    }
    err.flush();
    return EXIT_FAILURE;
  }

  private static int onUsageError(CommandLine.ParameterException e, String[] args) {
    CommandLine cl = e.getCommandLine();
    PrintWriter err = cl.getErr();
    err.println("sidecar: " + oneLine(e) + " (see '" + cl.getCommandSpec().qualifiedName()
        + " --help')");
    err.flush();
    return EXIT_USAGE;
  }

  /** The user-facing reason: the message of our exceptions, else the class and message. */
  static String oneLine(Throwable e) {
    String msg;
    if (e instanceof BundleException || e instanceof CommandLine.ParameterException
        || e instanceof dev.sidecar.spark.SidecarSparkException || e instanceof IllegalStateException
        || e instanceof IllegalArgumentException || e instanceof NoSuchElementException) {
      msg = e.getMessage();
    } else if (e instanceof UncheckedIOException && e.getCause() != null) {
      msg = e.getMessage();
    } else {
      msg = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
    }
    return msg == null ? e.getClass().getSimpleName() : msg.replace('\n', ' ').trim();
  }

  /** Whether {@code --verbose} was given, before or after the subcommand of {@code spec}. */
  static boolean verbose(CommandLine.Model.CommandSpec spec) {
    return verbose(spec.root().commandLine().getParseResult());
  }

  private static boolean verbose(ParseResult parsed) {
    for (ParseResult p = parsed; p != null; p = p.subcommand()) {
      if (p.hasMatchedOption("--verbose")) {
        return true;
      }
    }
    return false;
  }

  /** The version from the jar manifest (Implementation-Version), else "dev". */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = SidecarCli.class.getPackage().getImplementationVersion();
      return new String[] {"sidecar " + (v == null ? "dev" : v)};
    }
  }
}
