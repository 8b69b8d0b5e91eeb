// RBAC as the API server's RBAC authorizer evaluates it (plugin/pkg/auth/authorizer/rbac/rbac.go, rules.go):
// a request is allowed when one rule of one Role bound to the user in the request's namespace matches its API
// group, resource (with `*` and `*/subresource` forms), verb and, when the rule lists resourceNames, its name.
// Requests without a name (create, list) never match a rule that lists resourceNames.

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** A Role or ClusterRole object (only `rules` matters). */
export interface RoleLike {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: PolicyRule[];
}

export interface RequestAttributes {
  user: string;
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  namespace: string;
  name: string;
}

interface Grant {
  namespace: string;
  rules: PolicyRule[];
}

export class Rbac {
  private grants = new Map<string, Grant[]>();

  /** Equivalent of a RoleBinding in `namespace` from `user` to `role`. */
  bind(user: string, namespace: string, role: RoleLike): void {
    const list = this.grants.get(user) ?? [];
    list.push({ namespace, rules: role.rules ?? [] });
    this.grants.set(user, list);
  }

  revokeAll(user: string): void {
    this.grants.delete(user);
  }

  allows(a: RequestAttributes): boolean {
    const grants = (this.grants.get(a.user) ?? []).filter(g => a.namespace !== '' && g.namespace === a.namespace);
    return grants.some(g => g.rules.some(rule => ruleAllows(rule, a)));
  }
}

function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return (
    has(rule.verbs, a.verb) &&
    has(rule.apiGroups, a.apiGroup) &&
    (rule.resources ?? []).some(r => r === '*' || r === combined || (!!a.subresource && r === `*/${a.subresource}`)) &&
    (!rule.resourceNames?.length || rule.resourceNames.includes(a.name))
  );
}

function has(list: string[] | undefined, value: string): boolean {
  return (list ?? []).some(v => v === '*' || v === value);
}
