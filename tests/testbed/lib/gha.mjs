// GitHub-Actions-like ambient OIDC issuer: discovery, JWKS and the runner's
// ID-token request endpoint (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN).
import crypto from 'node:crypto';
import { SignJWT } from 'jose';
import { HttpError, send, nowSec } from './util.mjs';

export function defaultGhaClaims() {
  const owner = 'testbed-org'; const repo = `${owner}/testbed-repo`;
  const sha = 'a'.repeat(40).replace(/a/g, () => '0123456789abcdef'[crypto.randomInt(16)]);
  return {
    sub: `repo:${repo}:ref:refs/heads/main`,
    ref: 'refs/heads/main',
    sha,
    repository: repo,
    repository_owner: owner,
    repository_owner_id: '1000001',
    repository_id: '2000002',
    repository_visibility: 'public',
    run_id: '3000003',
    run_number: '7',
    run_attempt: '1',
    actor: 'testbed-user',
    actor_id: '4000004',
    workflow: 'CI',
    workflow_ref: `${repo}/.github/workflows/ci.yml@refs/heads/main`,
    workflow_sha: sha,
    job_workflow_ref: `${repo}/.github/workflows/ci.yml@refs/heads/main`,
    job_workflow_sha: sha,
    event_name: 'push',
    ref_type: 'branch',
    ref_protected: 'false',
    head_ref: '',
    base_ref: '',
    runner_environment: 'github-hosted',
  };
}

export function makeGha({ state, issuer, jwk }) {
  const { stats } = state;
  const requestToken = crypto.randomBytes(24).toString('hex');
  const requestPath = `/_apis/distributedtask/hubs/Actions/plans/${crypto.randomUUID()}/jobs/${crypto.randomUUID()}/idtoken`;
  const requestUrl = `${issuer}${requestPath}?api-version=2.0`;
  const publicJwk = (({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use }))(jwk);

  async function mint({ audience, ttl = 300, claims = {} } = {}) {
    const iat = nowSec();
    const payload = { ...defaultGhaClaims(), ...state.ghaClaims, ...claims };
    const t = Number(ttl);
    stats.gha_tokens += 1;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT', x5t: jwk.kid })
      .setIssuer(issuer)
      .setAudience(audience || `https://github.com/${payload.repository_owner}`)
      .setIssuedAt(Math.min(iat, iat + t - 60))
      .setNotBefore(Math.min(iat, iat + t - 60) - 5)
      .setExpirationTime(iat + t)
      .setJti(crypto.randomUUID())
      .sign(crypto.createPrivateKey({ key: jwk, format: 'jwk' }));
  }

  async function handler(req, res, url) {
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'sha', 'repository', 'repository_id', 'repository_owner',
          'repository_owner_id', 'repository_visibility', 'run_id', 'run_number', 'run_attempt', 'actor', 'actor_id', 'workflow',
          'workflow_ref', 'workflow_sha', 'job_workflow_ref', 'job_workflow_sha', 'event_name', 'ref_type', 'runner_environment'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
      });
    }
    if (url.pathname === '/.well-known/jwks') return send(res, 200, { keys: [publicJwk] });
    if (url.pathname === requestPath && req.method === 'GET') {
      const auth = req.headers.authorization || '';
      const m = /^bearer\s+(.+)$/i.exec(auth);
      if (!m || m[1].trim() !== requestToken) {
        throw new HttpError(401, { message: 'Unauthorized: bad or missing runtime token' });
      }
      if (state.faults.take('gha', 'http500')) throw new HttpError(500, { message: 'testbed fault gha.http500' });
      const value = await mint({ audience: url.searchParams.get('audience') || undefined });
      return send(res, 200, { count: 1, value });
    }
    throw new HttpError(404, { message: 'Not Found' });
  }

  return { handler, requestUrl, requestToken, mint };
}
