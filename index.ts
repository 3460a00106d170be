import * as pulumi from "@pulumi/pulumi";
import { loadStackModel } from "./config/load";
import { ConfigValidationError } from "./config/problems";
import { defineStack, requirePulumiCli } from "./components/program";

function loadModel() {
  try {
    return loadStackModel();
  } catch (error) {
    // A RunError prints its message without a stack trace: the messages are the whole story.
    if (error instanceof ConfigValidationError) throw new pulumi.RunError(error.message);
    throw error;
  }
}

const model = loadModel();

// The Node.js runtime calls an exported function and exports what it resolves to.
export = async () => {
  await requirePulumiCli();
  return defineStack(pulumi.getStack(), model);
};
