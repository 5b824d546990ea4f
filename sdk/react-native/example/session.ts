// Stands in for the app's sign-in: your backend mints the customer's Optimus token
// (POST /api/v1/customers/{id}/token with its API key) and hands it to the app.
let token: string | null = null;

export function signedIn(newToken: string): void {
  token = newToken;
}

export async function customerToken(): Promise<string | null> {
  return token;
}
