// urql's Client with its default exchanges and fetch options: log in, then query with the token.
import { Client, cacheExchange, fetchExchange, gql } from "@urql/core";
import { bearer, done, env, httpUrl } from "./common.mjs";

const LOGIN = gql`
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) { token userErrors { code } }
  }
`;
const VIEWER = gql`
  query Viewer { viewer { id email role } customer { id balance } }
`;

const anonymous = new Client({ url: httpUrl(), exchanges: [cacheExchange, fetchExchange] });
const login = await anonymous.mutation(LOGIN, { email: env("EMAIL"), password: env("PASSWORD") }).toPromise();
const token = login.data?.login?.token;
const signedIn = new Client({
  url: httpUrl(),
  exchanges: [cacheExchange, fetchExchange],
  fetchOptions: () => ({ headers: bearer(token) }),
});
const viewer = token ? await signedIn.query(VIEWER, {}).toPromise() : null;
done({
  loginError: login.error?.message ?? null,
  loginUserErrors: login.data?.login?.userErrors ?? null,
  gotToken: Boolean(token),
  queryError: viewer?.error?.message ?? null,
  data: viewer?.data ?? null,
});
