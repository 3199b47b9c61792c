// OIDC provider (panva/oidc-provider) with automatic login, a scripted
// "browser" that completes authorization-code and device flows over HTTP, and
// token minting with the provider's own key.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT } from 'jose';
import { sleep, nowSec } from './util.mjs';

export const CLIENT_ID = 'sigstore';

export function accountFor(email, extra = {}) {
  const sub = extra.sub || `user-${crypto.createHash('sha256').update(email).digest('hex').slice(0, 16)}`;
  return { sub, email, email_verified: extra.email_verified ?? true };
}

const page = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

export async function makeOidc({ issuer, jwk, state }) {
  const { faults, stats, log } = state;
  state.accounts = new Map();
  const useAccount = (acct) => { state.account = acct; state.accounts.set(acct.sub, acct); };
  useAccount(accountFor(state.defaultEmail));
  state.useAccount = useAccount;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/auth/callback', 'http://localhost/auth/callback', 'http://[::1]/auth/callback'],
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    scopes: ['openid', 'email', 'offline_access'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        async userCodeInputSource(ctx, form, out, err) {
          ctx.body = page('Sign-in', `<h1>Enter code</h1>${err ? `<p class="error">${err.name}</p>` : ''}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        async userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
          ctx.body = page('Confirm device', `<h1>Confirm ${userCode}</h1>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button><button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`);
        },
        async successSource(ctx) {
          ctx.body = page('Sign-in Success', '<h1>Sign-in Success</h1><p id="testbed-device-success">done</p>');
        },
      },
      rpInitiatedLogout: { enabled: false },
    },
    ttl: {
      // device-expire fault: the code dies after one second and is never approved
      DeviceCode: (ctx) => (ctx?.testbedDeviceExpire ? 1 : 600),
      IdToken: () => state.config.idTokenTtl,
      AccessToken: () => 600,
      AuthorizationCode: () => 60,
      Interaction: () => 600,
      Session: () => 3600,
      Grant: () => 3600,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (ctx, id) => {
      const acct = state.accounts.get(id);
      if (!acct) return undefined;
      return {
        accountId: id,
        claims: async () => ({ sub: acct.sub, email: acct.email, email_verified: acct.email_verified }),
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('oops', `<h1>oops</h1><pre id="testbed-error">${JSON.stringify(out).replace(/</g, '&lt;')}</pre>`);
    },
  });
  provider.proxy = false;

  // RFC 8252: loopback redirect URIs may use any port; the testbed also lets
  // native clients use any path on a loopback host.
  const origAllowed = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    if (origAllowed.call(this, value)) return true;
    if (this.applicationType !== 'native' || !state.config.anyLoopbackPath) return false;
    const u = URL.parse(value);
    return !!u && u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && !u.hash;
  };

  provider.on('authorization.success', () => { stats.authorizations += 1; });
  provider.on('grant.success', (ctx) => {
    stats.tokens += 1;
    if (ctx.oidc?.params?.grant_type === 'urn:ietf:params:oauth:grant-type:device_code') stats.device_tokens += 1;
  });
  provider.on('server_error', (ctx, err) => log(`oidc server_error: ${err.stack || err}`));

  // Device authorization endpoint: optional `interval`, fault handling and auto-approval.
  provider.use(async (ctx, next) => {
    // token-drop fault: the token endpoint closes the connection without an
    // answer (a network failure in the middle of a login or a device poll).
    if (ctx.path === '/token' && ctx.method === 'POST' && faults.take('oidc', 'token-drop')) {
      stats.token_drops += 1;
      ctx.respond = false;
      ctx.req.socket.destroy();
      return;
    }
    if (ctx.path === '/device/auth' && ctx.method === 'POST') {
      const expire = faults.take('oidc', 'device-expire');
      const deny = !expire && faults.take('oidc', 'device-deny');
      const manual = !expire && !deny && faults.take('oidc', 'device-manual');
      ctx.testbedDeviceExpire = !!expire;
      await next();
      if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        stats.device_authorizations += 1;
        if (state.config.deviceInterval !== null) ctx.body.interval = state.config.deviceInterval;
        const userCode = ctx.body.user_code;
        state.pendingDevice.set(userCode, { user_code: userCode, created: Date.now(), mode: expire ? 'expire' : deny ? 'deny' : manual ? 'manual' : 'auto' });
        if (!expire && !manual) {
          setTimeout(() => {
            approveDevice(userCode, { deny: !!deny }).catch((e) => log(`device approval failed: ${e.stack || e}`));
          }, state.config.deviceApproveDelayMs);
        }
      }
      return;
    }
    await next();
  });

  // Automatic login and consent on /interaction/:uid
  async function interaction(req, res) {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details;
    let result;
    const deny = faults.take('oidc', 'deny');
    if (deny) {
      result = { error: 'access_denied', error_description: 'End-User denied the authorization request (testbed fault oidc.deny)' };
    } else if (prompt.name === 'login') {
      stats.logins += 1;
      result = { login: { accountId: state.account.sub } };
    } else if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      const d = prompt.details || {};
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      if (d.missingResourceScopes) {
        for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      result = { consent: details.grantId ? {} : { grantId } };
    } else {
      result = { error: 'login_required', error_description: `testbed cannot handle prompt ${prompt.name}` };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }

  const callback = provider.callback();
  async function handler(req, res) {
    if (req.url.startsWith('/interaction/')) return interaction(req, res);
    return callback(req, res);
  }

  // ---- scripted browser ----
  async function browse(startUrl, { abortDevice = false, maxSteps = 40 } = {}) {
    const jar = new Map();
    let url = startUrl; let method = 'GET'; let body = null;
    for (let step = 0; step < maxSteps; step++) {
      if (!url.startsWith(`${issuer}/`)) return { final: url };
      const headers = {};
      if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
      const r = await fetch(url, { method, headers, body, redirect: 'manual' });
      for (const sc of r.headers.getSetCookie()) {
        const [pair, ...attrs] = sc.split(';');
        const eq = pair.indexOf('=');
        const k = pair.slice(0, eq).trim(); const v = pair.slice(eq + 1).trim();
        const expired = attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()) || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
        if (!v || expired) jar.delete(k); else jar.set(k, v);
      }
      if (r.status >= 300 && r.status < 400 && r.headers.get('location')) {
        await r.arrayBuffer();
        url = new URL(r.headers.get('location'), url).href; method = 'GET'; body = null;
        continue;
      }
      const text = await r.text();
      const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(text);
      if (form && /method="post"/i.test(form[1])) {
        const action = /action="([^"]*)"/i.exec(form[1])?.[1] || url;
        const params = new URLSearchParams();
        for (const m of form[2].matchAll(/<input\b([^>]*)>/gi)) {
          const name = /name="([^"]*)"/i.exec(m[1])?.[1];
          const value = /value="([^"]*)"/i.exec(m[1])?.[1] ?? '';
          if (name) params.append(name, value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
        }
        if (/op\.deviceConfirmForm/.test(form[1]) && abortDevice) { params.delete('confirm'); params.set('abort', 'yes'); }
        url = new URL(action.replace(/&amp;/g, '&'), url).href; method = 'POST'; body = params.toString();
        continue;
      }
      return { status: r.status, page: text, url };
    }
    throw new Error(`browser: too many steps starting at ${startUrl}`);
  }

  // The headless "browser" behind open-url: authorization URL -> auto login ->
  // loopback redirect delivered to the client's listener.
  async function openUrl(url) {
    const rec = { url, started: new Date().toISOString() };
    state.opens.push(rec);
    if (faults.take('oidc', 'never')) { rec.result = 'ignored (fault oidc.never)'; return rec; }
    const delay = faults.take('oidc', 'slow');
    if (delay) await sleep(Number(delay.value) || 1000);
    const out = await browse(url);
    if (!out.final) { rec.result = `no redirect to the client: HTTP ${out.status} at ${out.url}: ${(out.page || '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`; log(`open-url: ${rec.result}`); return rec; }
    let final = new URL(out.final);
    if (faults.take('oidc', 'state-mismatch')) final.searchParams.set('state', `tampered-${crypto.randomBytes(4).toString('hex')}`);
    const issMismatch = faults.take('oidc', 'iss-mismatch');
    if (issMismatch) final.searchParams.set('iss', String(issMismatch.value ?? 'https://issuer.example'));
    if (faults.take('oidc', 'iss-missing')) final.searchParams.delete('iss');
    final = final.href;
    rec.delivered = final;
    if (final.startsWith('http://127.0.0.1') || final.startsWith('http://localhost') || final.startsWith('http://[::1]')) {
      try {
        const r = await fetch(final, { redirect: 'manual', signal: AbortSignal.timeout(10000) });
        rec.result = `delivered, client answered HTTP ${r.status}`;
        await r.arrayBuffer().catch(() => {});
      } catch (e) { rec.result = `delivery failed: ${e.cause?.code || e.message}`; }
    } else rec.result = `final URL is not loopback, not fetched`;
    return rec;
  }

  async function approveDevice(userCode, { deny = false } = {}) {
    const pend = state.pendingDevice.get(userCode);
    if (pend) pend.state = 'in-progress';
    const out = await browse(`${issuer}/device?user_code=${encodeURIComponent(userCode)}`, { abortDevice: deny });
    const ok = !!out.page && out.page.includes('testbed-device-success');
    if (pend) pend.state = ok ? 'approved' : deny ? 'denied' : 'failed';
    if (ok) stats.device_approvals += 1;
    if (!ok && !deny) log(`device approval of ${userCode} did not succeed: HTTP ${out.status} ${(out.page || '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
    return { user_code: userCode, approved: ok, denied: deny, status: out.status };
  }

  // Mint an ID token with the provider's key, as the flows would issue it.
  async function mint({ email, ttl, aud, sub, email_verified, nonce, claims = {} } = {}) {
    const acct = email ? accountFor(email, { sub, email_verified }) : state.account;
    const iat = nowSec();
    const payload = {
      sub: sub || acct.sub,
      email: acct.email,
      email_verified: email_verified ?? acct.email_verified,
      ...(nonce ? { nonce } : {}),
      ...claims,
    };
    const t = Number.isFinite(Number(ttl)) && ttl !== null && ttl !== undefined ? Number(ttl) : 600;
    const jwt = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(aud ?? CLIENT_ID)
      .setIssuedAt(Math.min(iat, iat + t - 60))
      .setExpirationTime(iat + t)
      .setJti(crypto.randomBytes(12).toString('base64url'))
      .sign(crypto.createPrivateKey({ key: jwk, format: 'jwk' }));
    stats.minted_tokens += 1;
    return jwt;
  }

  return { provider, handler, openUrl, approveDevice, mint };
}
