package dev.sidecar.testkit;

import com.google.protobuf.ByteString;
import dev.sidecar.proto.onnx.AttributeProto;
import java.util.SplittableRandom;

/**
 * The trees of {@link OnnxModels#treeEnsemble} and their plain-Java evaluation. Every tree
 * is a complete binary tree of {@code depth} levels of {@code BRANCH_LEQ} splits numbered
 * in heap order (node {@code i} has children {@code 2i+1} when {@code x[feature] <=
 * threshold} and {@code 2i+2} otherwise); leaves follow the splits. Per tree the seed
 * yields the split features and thresholds (uniform in [-1, 1)), then the leaf weights
 * (uniform in [-1, 1) divided by sqrt(trees)). The prediction is the sum over trees.
 */
record TreeEnsemble(int trees, int depth, int features, int[] splitFeatures, float[] thresholds, float[] leafWeights) {

  private static final ByteString BRANCH_LEQ = ByteString.copyFromUtf8("BRANCH_LEQ");
  private static final ByteString LEAF = ByteString.copyFromUtf8("LEAF");

  static TreeEnsemble of(int trees, int depth, int features, long seed) {
    if (trees < 1 || depth < 1 || depth > 20 || features < 1) {
      throw new IllegalArgumentException("treeEnsemble needs trees >= 1, 1 <= depth <= 20 and features >= 1, got trees="
          + trees + ", depth=" + depth + ", features=" + features);
    }
    int splits = (1 << depth) - 1;
    int leaves = 1 << depth;
    if ((long) trees * (splits + leaves) > Integer.MAX_VALUE / 8) {
      throw new IllegalArgumentException("treeEnsemble of " + trees + " trees of depth " + depth + " is too large");
    }
    SplittableRandom random = new SplittableRandom(seed);
    int[] f = new int[trees * splits];
    float[] t = new float[trees * splits];
    float[] w = new float[trees * leaves];
    float leafScale = (float) (1 / Math.sqrt(trees));
    for (int tree = 0; tree < trees; tree++) {
      for (int n = 0; n < splits; n++) {
        f[tree * splits + n] = random.nextInt(features);
        t[tree * splits + n] = (float) (random.nextDouble() * 2 - 1);
      }
      for (int n = 0; n < leaves; n++) {
        w[tree * leaves + n] = (float) ((random.nextDouble() * 2 - 1) * leafScale);
      }
    }
    return new TreeEnsemble(trees, depth, features, f, t, w);
  }

  int splitsPerTree() {
    return (1 << depth) - 1;
  }

  int leavesPerTree() {
    return 1 << depth;
  }

  /** Row-major {@code [N, features]} to {@code [N]} sums of leaf weights. */
  float[] predict(float[] x) {
    if (x.length % features != 0) {
      throw new IllegalArgumentException("x has " + x.length + " floats, not a multiple of " + features + " features");
    }
    int rows = x.length / features;
    int splits = splitsPerTree();
    float[] out = new float[rows];
    for (int r = 0; r < rows; r++) {
      double sum = 0;
      for (int tree = 0; tree < trees; tree++) {
        int node = 0;
        while (node < splits) {
          int i = tree * splits + node;
          node = x[r * features + splitFeatures[i]] <= thresholds[i] ? 2 * node + 1 : 2 * node + 2;
        }
        sum += leafWeights[tree * leavesPerTree() + node - splits];
      }
      out[r] = (float) sum;
    }
    return out;
  }

  /** The TreeEnsembleRegressor attributes (built directly: a few hundred thousand entries). */
  OnnxModels.Attr[] attributes() {
    int splits = splitsPerTree();
    int perTree = splits + leavesPerTree();
    AttributeProto.Builder treeIds = ints("nodes_treeids");
    AttributeProto.Builder nodeIds = ints("nodes_nodeids");
    AttributeProto.Builder featureIds = ints("nodes_featureids");
    AttributeProto.Builder modes = AttributeProto.newBuilder().setName("nodes_modes")
        .setType(AttributeProto.AttributeType.STRINGS);
    AttributeProto.Builder values = floats("nodes_values");
    AttributeProto.Builder trueIds = ints("nodes_truenodeids");
    AttributeProto.Builder falseIds = ints("nodes_falsenodeids");
    AttributeProto.Builder targetTreeIds = ints("target_treeids");
    AttributeProto.Builder targetNodeIds = ints("target_nodeids");
    AttributeProto.Builder targetIds = ints("target_ids");
    AttributeProto.Builder targetWeights = floats("target_weights");
    for (int tree = 0; tree < trees; tree++) {
      for (int node = 0; node < perTree; node++) {
        treeIds.addInts(tree);
        nodeIds.addInts(node);
        if (node < splits) {
          int i = tree * splits + node;
          featureIds.addInts(splitFeatures[i]);
          modes.addStrings(BRANCH_LEQ);
          values.addFloats(thresholds[i]);
          trueIds.addInts(2L * node + 1);
          falseIds.addInts(2L * node + 2);
        } else {
          featureIds.addInts(0);
          modes.addStrings(LEAF);
          values.addFloats(0f);
          trueIds.addInts(0);
          falseIds.addInts(0);
          targetTreeIds.addInts(tree);
          targetNodeIds.addInts(node);
          targetIds.addInts(0);
          targetWeights.addFloats(leafWeights[tree * leavesPerTree() + node - splits]);
        }
      }
    }
    return new OnnxModels.Attr[] {
        attr(treeIds), attr(nodeIds), attr(featureIds), attr(modes), attr(values), attr(trueIds), attr(falseIds),
        attr(targetTreeIds), attr(targetNodeIds), attr(targetIds), attr(targetWeights),
        OnnxModels.Attr.i("n_targets", 1),
        OnnxModels.Attr.s("aggregate_function", "SUM"),
        OnnxModels.Attr.s("post_transform", "NONE"),
    };
  }

  private static AttributeProto.Builder ints(String name) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
  }

  private static AttributeProto.Builder floats(String name) {
    return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOATS);
  }

  private static OnnxModels.Attr attr(AttributeProto.Builder b) {
    return new OnnxModels.Attr(b.build());
  }
}
