import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { createAuthClient } from '@bastion/client'
import { AuthProvider } from '@bastion/client/react'
import { App } from './App.jsx'

// The API is on another origin (the Express server on :3000): the client sends
// credentials there and takes the CSRF token from its answers.
const API_URL = import.meta.env.VITE_API_URL ?? 'http://localhost:3000'
const auth = createAuthClient({ baseUrl: API_URL })

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <AuthProvider client={auth} loadSession={false}>
      <App apiUrl={API_URL} />
    </AuthProvider>
  </StrictMode>,
)
