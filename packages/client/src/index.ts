export { createAuthClient } from './client.ts'
export { AuthError } from './http.ts'
export type {
  AuthClient,
  AuthClientOptions,
  AuthListener,
  AuthPaths,
  AuthState,
  AuthStatus,
  AxiosConfigLike,
  AxiosInterceptorsLike,
  AxiosLike,
  Credentials,
  CsrfOptions,
  DeviceBinding,
  RegisterResult,
  Session,
  SessionInfo,
  SignInResult,
  TabMessage,
  User,
} from './types.ts'
