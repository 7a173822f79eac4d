// A real OpenID Connect provider (panva/oidc-provider) on loopback for dsign's sign-in tests.
// Configuration comes from the environment: OIDC_TEST_PORT, OIDC_TEST_CLIENT (JSON client metadata),
// OIDC_TEST_ACCOUNTS (JSON {accountId: claims}). Instead of a login form, the interaction endpoint signs in
// the account last named with POST /test/login-as {"account": id}, as a user who typed a password would.
// Prints "READY <issuer>" once listening.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_TEST_PORT);
const issuer = `http://127.0.0.1:${port}`;
const client = JSON.parse(process.env.OIDC_TEST_CLIENT);
const accounts = JSON.parse(process.env.OIDC_TEST_ACCOUNTS);
let loginAs = Object.keys(accounts)[0];

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const configuration = {
  clients: [client],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['dsign-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'given_name_th', 'family_name_th',
      'title_th', 'job_title'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
  // First-party client: consent is implied, as for an organisation's own app registration.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/test/login-as') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    loginAs = JSON.parse(Buffer.concat(chunks).toString()).account;
    ctx.status = 204;
    return;
  }
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name !== 'login') {
      ctx.status = 500;
      ctx.body = `unexpected prompt ${details.prompt.name}`;
      return;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: loginAs } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  await next();
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
