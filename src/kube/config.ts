// Loads credentials the way kubectl and controller-runtime do: an explicit --kubeconfig, else in-cluster
// service-account credentials, else $KUBECONFIG / ~/.kube/config.
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path} does not exist`);
    kc.loadFromFile(path);
  } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) throw new Error('no cluster in the kubeconfig (use --kubeconfig, or run in a cluster)');
  return kc;
}
