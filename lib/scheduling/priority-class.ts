import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { declareObjects } from '../unique-names';
import { checkDnsLabel, ValidationError } from '../validation';

export interface PriorityClassProps {
  /** Name of the PriorityClass, e.g. `hl-critical`. */
  readonly name: string;
  /** Scheduling priority: higher wins. User classes may use -2147483648 to 1000000000. */
  readonly value: number;
  /**
   * Make this the default for pods without a priorityClassName.
   * @default false
   */
  readonly globalDefault?: boolean;
  /** @default - none */
  readonly description?: string;
  /**
   * Whether pods of this class preempt lower ones: `PreemptLowerPriority` or `Never`.
   * @default 'PreemptLowerPriority'
   */
  readonly preemptionPolicy?: 'PreemptLowerPriority' | 'Never';
}

/** A cluster-wide PriorityClass such as the reference homelab's `hl-critical`. */
export class PriorityClass extends Construct {
  /** Kubernetes' built-in classes, which need no object of their own. */
  static readonly SYSTEM_CLUSTER_CRITICAL = 'system-cluster-critical';
  static readonly SYSTEM_NODE_CRITICAL = 'system-node-critical';

  readonly name: string;
  /** Escape hatch to the rendered object. */
  readonly apiObject: ApiObject;

  constructor(scope: Construct, id: string, props: PriorityClassProps) {
    super(scope, id);
    checkDnsLabel('PriorityClassProps.name', props.name, 253);
    if (props.name.startsWith('system-')) {
      throw new ValidationError(
        'PriorityClassProps.name',
        `"${props.name}" uses the "system-" prefix reserved for Kubernetes`,
        'Choose another name, or reference the built-in class by name without creating it.',
      );
    }
    if (!Number.isInteger(props.value) || props.value < -2147483648 || props.value > 1000000000) {
      throw new ValidationError(
        'PriorityClassProps.value',
        `${props.value} is outside -2147483648..1000000000 (higher values are reserved for system classes)`,
        'Pick an integer in that range, e.g. 500000000.',
      );
    }
    this.name = props.name;
    this.apiObject = new k8s.KubePriorityClass(this, 'Resource', {
      metadata: { name: props.name },
      value: props.value,
      globalDefault: props.globalDefault ?? false,
      description: props.description,
      preemptionPolicy: props.preemptionPolicy,
    });
    // The App-wide check that no two objects share a name (two charts creating "hl-critical" would fight over it).
    declareObjects(this);
  }
}
